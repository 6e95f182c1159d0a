"""The course modules, one file each (see matrix/modules.toml for which checkpoint has which)."""
