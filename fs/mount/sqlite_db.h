// A small SQLite wrapper for the mount's metadata database: one connection,
// a statement cache, typed binding. Not thread safe by itself: callers hold
// mu() around every use (the mount serializes metadata through it).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status.h"

namespace qstor::fs::mount {

class SqliteDb;

// A prepared statement borrowed from the cache; reset when destroyed.
class Query {
 public:
  Query(SqliteDb* db, sqlite3_stmt* st) : db_(db), st_(st) {}
  Query(Query&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query();

  Query& Bind(int i, int64_t v);
  Query& Bind(int i, uint64_t v) { return Bind(i, static_cast<int64_t>(v)); }
  Query& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Query& Bind(int i, uint32_t v) { return Bind(i, static_cast<int64_t>(v)); }
  Query& BindBlob(int i, std::string_view v);
  Query& BindText(int i, std::string_view v);
  Query& BindNull(int i);

  // Steps once: true when a row is available. Errors make it return false
  // and are reported by status().
  bool Step();
  // Runs to completion (for statements without rows).
  Status Run();
  const Status& status() const { return status_; }

  int64_t Int(int col) const { return sqlite3_column_int64(st_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  std::string Blob(int col) const;

 private:
  SqliteDb* db_;
  sqlite3_stmt* st_;
  Status status_;
};

class SqliteDb {
 public:
  // Opens (creating) the database at `path` in WAL mode with
  // synchronous=NORMAL: every commit survives a process crash; call
  // Begin(true) where a commit must also survive a power cut.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();

  std::mutex& mu() { return mu_; }
  Status Exec(const std::string& sql);
  Query Prepare(const char* sql);  // cached by pointer identity of `sql`
  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() { return db_; }

  // durable: this transaction commits with synchronous=FULL, so the WAL is
  // fsynced and this commit and every earlier one survive a power cut.
  // (SQLite refuses to change the level inside a transaction, hence here.)
  Status Begin(bool durable = false);
  Status Commit();
  void Rollback();

  std::string Error() const { return sqlite3_errmsg(db_); }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::mutex mu_;
  std::map<const char*, sqlite3_stmt*> cache_;
  bool durable_txn_ = false;
};

}  // namespace qstor::fs::mount
