"""The `genofed` command line: one entry point, a module of subcommands per room."""
