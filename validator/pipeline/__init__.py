"""One run: configuration, the typed phases (read, static checks, environment, dynamic checks), the release gate. Imports checks and every layer below."""
