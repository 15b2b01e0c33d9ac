"""The course's given code: what exercises import but students don't write (training loops, plots,
tiny models, datasets), one module per chapter. Never imported by the runner itself."""
