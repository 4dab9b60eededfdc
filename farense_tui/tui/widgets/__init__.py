"""Small reusable widgets of the cockpit."""
