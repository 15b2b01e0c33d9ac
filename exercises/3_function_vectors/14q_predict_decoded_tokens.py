"""Predict: what the country_capital function vector decodes to
============================================================

Difficulty: 2/5    Importance: 3/5    Time: ~5 minutes

A question: answer it after exercise 14, before you run this section's result. Write your answer in
`ANSWER` below and run this exercise; the check tells you whether it holds, and why not if it
doesn't.

The country_capital function vector is the sum of the top heads' outputs at the last position, each
averaged over 20 ICL prompts ("Q: France\nA: Paris\n\n ... Q: Japan\nA:"), every prompt with its own
query. Exercise 14 reads it through the final layer norm and the unembedding, as if it were the
whole residual stream, and lists the 10 tokens with the largest logits. Which do you expect to
dominate them?

    A. Country names: the queries, which every prompt ends with.
    B. Capital cities, many different ones: the task's kind of answer.
    C. One capital: the answer to the query the FV was extracted for.
    D. The prompt's format tokens ("Q", "A", ":", newlines): what every prompt has in common.
"""

ANSWER = None  # one of "A", "B", "C", "D"
