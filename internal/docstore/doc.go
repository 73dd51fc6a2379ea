// Package docstore embeds FerretDB with its SQLite backend.
package docstore
