// Package docstore runs an embedded FerretDB 1.x: a MongoDB wire-protocol
// server inside the Go process, storing documents either in one SQLite file
// per database in a directory (BackendSQLite, the default) or in one schema
// per database of a PostgreSQL database (BackendPostgreSQL). It is what
// `moa dev` and the moatest harness use instead of a MongoDB server;
// production talks to real MongoDB.
//
// Clients connect to an isolator in front of FerretDB (isolate.go), which
// serialises update and findAndModify commands per document, since FerretDB
// itself lets concurrent updates of one document overwrite each other, and
// bounds the update statements in flight, since FerretDB hangs when as many
// run at once as its connection pool holds (a bulk write of 100 updates on
// SQLite, 50 on PostgreSQL, or 150 concurrent updaters).
//
// FerretDB implements a subset of MongoDB. Code that must run on both
// should stay inside the supported column below. Every row was checked
// against FerretDB v1.24.0 (SQLite) with mongo-driver v2; the tests in
// this package (features_test.go) assert each row, so an upgrade that
// changes one fails loudly instead of silently. On the PostgreSQL backend
// only CRUD, duplicate keys, update operators and atomicity are asserted
// (backends_test.go).
//
//	Feature                                       FerretDB 1.24 SQLite   MongoDB
//	--------------------------------------------  ---------------------  -------
//	CRUD, filters, $regex, projections, sort       supported              yes
//	update operators ($set, $inc, $push), upsert   supported              yes
//	findOneAndUpdate, bulk writes                  supported              yes
//	unique indexes, E11000 duplicate key errors    supported (1)          yes
//	aggregate $match $group $sort $limit $project  supported              yes
//	aggregate $unwind $count $addFields            supported              yes
//	aggregate $lookup, $facet                      NotImplemented         yes
//	multi-document transactions                    no (2)                 replica set
//	change streams (Watch)                         NotImplemented         replica set
//	TTL indexes (expireAfterSeconds)               NotImplemented (3)     yes
//	partial indexes (partialFilterExpression)      NotImplemented         yes
//	text indexes and $text queries                 no (4)                 yes
//	2dsphere (geo) indexes                         no                     yes
//	single-document atomicity under concurrency    yes, by isolator (5)   yes
//
// (1) mongo.IsDuplicateKeyError reports true and the message starts with
// "E11000", as with MongoDB, for InsertOne and InsertMany alike.
//
// (2) StartSession succeeds (sessions are client-side), but the first
// command of a transaction fails with FailedToParse (`unknown field
// "startTransaction"`); nothing is written. Code that needs atomicity across
// documents must not rely on transactions here.
//
// (3) createIndexes fails with NotImplemented, so a service that creates a
// TTL index at start-up fails on FerretDB: create it only against MongoDB,
// or expire documents yourself.
//
// (4) creating a text index fails (IndexNotFound) and $text is rejected as
// an unknown top-level operator (BadValue). A $regex filter is the
// portable, if slower, substitute.
//
// (5) FerretDB 1.24 alone does not isolate concurrent updates of one
// document, on either backend: it reads the document, modifies it in Go and
// writes it back in separate statements, so one update can overwrite
// another (8 goroutines doing 50 $inc each on one document ended at
// 87–223 of 400 on SQLite and PostgreSQL alike, TestIncIsolation with
// Unisolated). The isolator in this package serialises update and
// findAndModify commands per document (per collection when a statement
// does not name its document by _id) inside the process every client of
// the embedded store goes through, which makes that test end at 400 on
// both backends. Writes sent with w:0 are not covered (see isolate.go).
// Production MongoDB makes every single-document update atomic.
//
// Production MongoDB is also a replica set with majority write concern,
// which FerretDB does not emulate; FerretDB answers endSessions with
// CommandNotFound, which drivers ignore.
package docstore
