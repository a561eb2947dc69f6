"""Django's SQLite backend, making the folder of the database file when it first opens it."""
