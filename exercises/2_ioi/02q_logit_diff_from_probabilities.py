"""Predict: a logit difference from two probabilities
==================================================

Difficulty: 1/5    Importance: 3/5    Time: ~4 minutes

A question: answer it before you run this section's result. Write your answer in `ANSWER` below and
run this exercise; the check tells you whether it holds, and why not if it doesn't.

The section's result prints the prompts the model gets least right, one per line: the logit
difference logit(IO) - logit(S) at the end position, then P(IO) and P(S), the softmax probabilities
of the two names at that position (over the whole vocabulary).

Suppose one line reads

    ????  P(IO) 0.60  P(S) 0.20  ...

The other 0.20 of the probability is spread over the rest of the vocabulary (" the", other names,
...). What number stands in place of ????, the prompt's logit difference? Give it to two decimals
(natural logarithms, as the logits are).

Then, when you run the result, check your reasoning against its worst prompts: every line there has
the three numbers side by side (rounded to two decimals, so expect the last digit to be off).
"""

ANSWER = None  # a number, e.g. 0.5
