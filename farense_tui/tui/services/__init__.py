"""The services the App owns and every screen reaches through it: they outlive a screen."""
