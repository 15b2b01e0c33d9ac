"""Interpret: a head that matters only once its class is gone
==========================================================

Difficulty: 3/5    Importance: 4/5    Time: ~6 minutes

A question: answer it after exercise 21, before you read the section's minimality plot. Write your
answer in `ANSWER` below and run this exercise; the check tells you whether it holds, and why not if
it doesn't.

The minimality plot (results/ioi/minimality.png) shows, for each head v of the circuit C, two
scores:

    coloured bar:   |F(C \\ (K ∪ {v})) - F(C \\ K)|     K = the other heads of v's class
    black outline:  |F(C \\ {v}) - F(C)|               K = {}: v removed on its own

(F = the average logit difference with everything outside the circuit mean-ablated.) Say a head v of
a class of three shows an outline of 0.8 and a coloured bar of 2.1, with F(C) about 8: removing v
alone costs little, removing it once the two other heads of its class are gone costs a lot.

What does that say about v?

    A. v hardly matters: the coloured bar is an artefact of the circuit being already broken once K
    is
       removed, after which removing anything at all makes a large difference.
    B. v's classmates can do its job: while they are there, losing v costs little because they make
    up
       for it; once they are gone, v carries what the class does on its own. v belongs in the
       circuit.
    C. v matters through its classmates: it feeds them (they read its output), so losing v hurts
    only
       once they are gone.
"""

# SOLUTION
ANSWER = "B"
# END SOLUTION
# EXERCISE
# ANSWER = None  # one of "A", "B", "C"
# END EXERCISE
