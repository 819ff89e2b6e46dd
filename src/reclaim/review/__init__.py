"""Review of matches: a person (or their advocate) confirms or rejects what matching found."""

from reclaim.review.service import Decision, ReviewResult, review_match

__all__ = ["Decision", "ReviewResult", "review_match"]
