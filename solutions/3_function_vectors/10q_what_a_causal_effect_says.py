"""Interpret: what a head's causal indirect effect shows
=====================================================

Difficulty: 3/5    Importance: 4/5    Time: ~6 minutes

A question: answer it after exercise 08, before you read this section's heatmap. Write your answer
in `ANSWER` below and run this exercise; the check tells you whether it holds, and why not if it
doesn't.

Exercise 08's causal indirect effect of a head: average the head's output at the last position over
the clean ICL prompts of a task (many prompts, each with its own query: "Q: hot\nA: cold ... Q:
up\nA:", "... Q: wet\nA:"), patch that mean into the corrupted prompts (the same prompts with the
examples' answers shuffled, so the examples no longer show the task), and measure how much the right
answer's probability rises.

On GPT-J a handful of heads have a large positive effect. What does a large effect show about such a
head?

    A. Its output at the last position carries the query word, which the model needs in order to
    answer. B. Its output at the last position carries the prompt's format (the "Q:" / "A:" lines,
    the newlines),
       without which the model does not know an answer is expected.
    C. Its output at the last position carries the task: putting it back restores what shuffling the
       examples took away.
    D. The model cannot do the task without it: ablating this head in the clean prompts would break
       in-context learning.
"""

# SOLUTION
ANSWER = "C"
# END SOLUTION
# EXERCISE
# ANSWER = None  # one of "A", "B", "C", "D"
# END EXERCISE
