"""The course's given code: what exercises import but students don't write (training loops, plots,
tiny models, datasets), one package per chapter (`superposition`, `ioi`, `function_vectors`: each with the
helpers its hidden tests share, in `testing`), and what every chapter uses: `display`, `models`, `threads`,
`loading`, and `testing` (the checks every chapter's hidden tests share). Never imported by the runner itself."""
