"""The command line: `farense-tui` opens the cockpit, `farense-tui COMMAND` runs headless."""
