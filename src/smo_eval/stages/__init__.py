"""Pure stage functions: tables in, tables out. No files, no logging, no exit codes."""
