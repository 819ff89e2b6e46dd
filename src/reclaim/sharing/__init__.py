"""Hash sharing: export the hashes of confirmed items for other systems, import others' hash lists.

Only hashes leave or enter: never media, person names or ids, case ids, chats or messages.

Formats (see :mod:`reclaim.sharing.export` for the exact layouts):

- ``te``: a python-threatexchange signal list, one ``<signal_type> <signal>`` per line (``pdq`` for
  images, ``video_md5`` for videos): what ``threatexchange hash`` prints and its file exchange
  (``LocalFileSignalExchangeAPI``) reads.
- ``stopncii``: a StopNCII-style submission (JSON; ``signalType`` ``ImagePDQ`` / ``VideoMD5`` and
  ``hashValue``, StopNCII's own field names), adults only.
- ``ncmec``: for NCMEC Take It Down (JSON; ``mediaType`` and NCMEC's ``fingerprintType`` ``PDQ`` /
  ``MD5``): the only format a minor's items are ever exported in.
"""

from __future__ import annotations
