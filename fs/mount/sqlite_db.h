// A small SQLite wrapper for the mount's metadata database: one connection,
// a statement cache, typed binding. Not thread safe by itself: callers hold
// mu() around every use (the mount serializes metadata through it).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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
  // Commits an open group (see below) before closing.
  ~SqliteDb();

  std::mutex& mu() { return mu_; }
  Status Exec(const std::string& sql);
  Query Prepare(const char* sql);  // cached by pointer identity of `sql`
  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() { return db_; }

  // Group commit. With a window of 0 (the default) every Begin/Commit pair
  // is its own transaction. With a window > 0, Begin() opens one write
  // transaction shared by all operations (each operation is a SAVEPOINT
  // inside it, so Rollback() undoes only that operation), and the group is
  // committed by Commit() once it is `window` old, by CommitGroup() (the
  // caller's timer, sync, anything that must be on disk before a side
  // effect), by Begin(true), and by the destructor. Statements run outside
  // Begin/Commit join an open group. A process crash loses the operations of
  // the group not yet committed; each operation is either wholly in or out.
  void SetGroupWindow(std::chrono::nanoseconds window) { window_ = window; }
  std::chrono::nanoseconds group_window() const { return window_; }
  // Called (with mu() held) each time a group transaction opens, so a timer
  // can commit it; must not take mu() nor anything before it in the lock
  // order.
  void SetOnGroupOpen(std::function<void()> fn) { on_group_open_ = std::move(fn); }

  // Starts an operation. durable: first commits an open group, then runs the
  // operation as its own transaction committed with synchronous=FULL, so the
  // WAL is fsynced and this commit and every earlier one survive a power cut.
  // (SQLite refuses to change the level inside a transaction, hence here.)
  Status Begin(bool durable = false);
  // Ends the operation started by Begin().
  Status Commit();
  // Undoes the operation started by Begin() (only that one).
  void Rollback();
  // Commits the open group, if any (synchronous=NORMAL: process-crash safe).
  Status CommitGroup();
  // Nanoseconds since the open group began; 0 when none is open.
  int64_t GroupAgeNs() const;
  // Runs `fn` once the changes made so far are committed (at once when no
  // transaction is open); dropped if they are rolled back. For side effects
  // that must not happen before the database says so (deleting a cache file).
  void AfterCommit(std::function<void()> fn);

  std::string Error() const { return sqlite3_errmsg(db_); }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  Status Step(const char* sql);  // a cached statement without rows
  void RunAfterCommit();
  void LostTransaction();

  sqlite3* db_;
  std::mutex mu_;
  std::map<const char*, sqlite3_stmt*> cache_;
  std::chrono::nanoseconds window_{0};
  bool group_open_ = false;    // BEGIN of a group is active
  bool in_op_ = false;         // inside Begin()..Commit()/Rollback()
  bool op_savepoint_ = false;  // the current operation is a savepoint in the group
  bool durable_txn_ = false;   // the current operation is a standalone durable txn
  std::chrono::steady_clock::time_point group_started_;
  std::function<void()> on_group_open_;
  std::vector<std::function<void()>> after_commit_;
  size_t after_commit_mark_ = 0;  // size of after_commit_ when the operation began
};

}  // namespace qstor::fs::mount
