"""The Docker Compose deployment: wheel bundle, Debian root filesystem, images, and the prepare step."""
