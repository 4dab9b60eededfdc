"""Modal screens: a question, a picker or a job shown over the current mode."""
