#include "fs/mount/sqlite_db.h"

#include <algorithm>

namespace qstor::fs::mount {

Query::~Query() {
  if (st_ != nullptr) {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
}

Query& Query::Bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}
Query& Query::BindBlob(int i, std::string_view v) {
  sqlite3_bind_blob64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT);
  return *this;
}
Query& Query::BindText(int i, std::string_view v) {
  sqlite3_bind_text64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Query& Query::BindNull(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

bool Query::Step() {
  if (st_ == nullptr) {
    if (status_.ok()) status_ = Status::Internal("sqlite: statement failed to prepare");
    return false;
  }
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    status_ = Status::IOError(std::string("metadata db: ") + sqlite3_errmsg(sqlite3_db_handle(st_)) +
                              " in: " + sqlite3_sql(st_));
  }
  return false;
}

Status Query::Run() {
  while (Step()) {
  }
  return status_;
}

std::string Query::Blob(int col) const {
  const void* p = sqlite3_column_blob(st_, col);
  int n = sqlite3_column_bytes(st_, col);
  if (p == nullptr || n <= 0) return std::string();
  return std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    if (raw) sqlite3_close(raw);
    return Status::IOError("metadata db " + path + ": " + msg);
  }
  std::unique_ptr<SqliteDb> db(new SqliteDb(raw));
  sqlite3_busy_timeout(raw, 5000);
  // One process (the mount) owns the database: exclusive locking keeps the
  // WAL index in process memory, so a transaction costs no fcntl locks and no
  // shared-memory file traffic (docs/mount.md, "Metadata database").
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA locking_mode=EXCLUSIVE"));
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode=WAL"));
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous=NORMAL"));
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys=OFF"));
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA cache_size=-32768"));
  // Savepoints (one per operation in a commit group) keep the pages they
  // change in a statement journal: in memory, not in a file under /var/tmp
  // (measured: 16 temp-file writes per created file with it on disk).
  QSTOR_RETURN_IF_ERROR(db->Exec("PRAGMA temp_store=MEMORY"));
  return db;
}

SqliteDb::~SqliteDb() {
  if (in_op_) Rollback();
  if (group_open_) (void)CommitGroup();
  for (auto& [k, st] : cache_) sqlite3_finalize(st);
  sqlite3_close(db_);
}

Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::IOError("metadata db: " + msg + " in: " + sql.substr(0, 80));
  }
  return Status::OK();
}

Query SqliteDb::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Query(this, it->second);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK) {
    return Query(this, nullptr);
  }
  cache_[sql] = st;
  return Query(this, st);
}

namespace {
// Fixed statements, prepared once (Prepare caches by pointer).
constexpr const char* kBegin = "BEGIN IMMEDIATE";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollbackTxn = "ROLLBACK";
constexpr const char* kSavepoint = "SAVEPOINT op";
constexpr const char* kRelease = "RELEASE op";
constexpr const char* kRollbackOp = "ROLLBACK TO op";
constexpr const char* kSyncFull = "PRAGMA synchronous=FULL";
constexpr const char* kSyncNormal = "PRAGMA synchronous=NORMAL";
}  // namespace

Status SqliteDb::Step(const char* sql) {
  Status st = Prepare(sql).Run();
  if (!st.ok() && st.message().find(sql) == std::string::npos) {
    return Status::IOError("metadata db: " + Error() + " in: " + sql);
  }
  return st;
}

Status SqliteDb::Begin(bool durable) {
  if (in_op_) return Status::Internal("metadata db: Begin inside an operation");
  if (durable) {
    QSTOR_RETURN_IF_ERROR(CommitGroup());
    QSTOR_RETURN_IF_ERROR(Step(kSyncFull));
    Status st = Step(kBegin);
    if (!st.ok()) {
      (void)Step(kSyncNormal);
      return st;
    }
    durable_txn_ = true;
  } else if (window_.count() == 0 && !group_open_) {
    QSTOR_RETURN_IF_ERROR(Step(kBegin));
  } else {
    if (!group_open_) {
      QSTOR_RETURN_IF_ERROR(Step(kBegin));
      group_open_ = true;
      group_started_ = std::chrono::steady_clock::now();
      if (on_group_open_) on_group_open_();
    }
    Status st = Step(kSavepoint);
    if (!st.ok()) {
      if (sqlite3_get_autocommit(db_)) LostTransaction();
      return st;
    }
    op_savepoint_ = true;
  }
  in_op_ = true;
  after_commit_mark_ = after_commit_.size();
  return Status::OK();
}

Status SqliteDb::Commit() {
  if (!in_op_) return Status::Internal("metadata db: Commit without Begin");
  if (op_savepoint_) {
    QSTOR_RETURN_IF_ERROR(Step(kRelease));  // on failure the caller rolls back
    op_savepoint_ = false;
    in_op_ = false;
    if (window_.count() == 0 || std::chrono::steady_clock::now() - group_started_ >= window_) {
      return CommitGroup();
    }
    return Status::OK();
  }
  QSTOR_RETURN_IF_ERROR(Step(kCommit));
  in_op_ = false;
  Status st;
  if (durable_txn_) {
    durable_txn_ = false;
    st = Step(kSyncNormal);
  }
  RunAfterCommit();
  return st;
}

void SqliteDb::Rollback() {
  if (!in_op_) return;
  in_op_ = false;
  if (op_savepoint_) {
    op_savepoint_ = false;
    Status st = Step(kRollbackOp);
    if (st.ok()) st = Step(kRelease);
    if (!st.ok() && sqlite3_get_autocommit(db_)) {
      LostTransaction();
      return;
    }
  } else {
    (void)Step(kRollbackTxn);
    if (durable_txn_) {
      durable_txn_ = false;
      (void)Step(kSyncNormal);
    }
  }
  if (after_commit_.size() > after_commit_mark_) after_commit_.resize(after_commit_mark_);
}

Status SqliteDb::CommitGroup() {
  if (!group_open_) return Status::OK();
  if (in_op_) return Status::Internal("metadata db: group commit inside an operation");
  Status st = Step(kCommit);
  if (!st.ok()) {
    if (sqlite3_get_autocommit(db_)) LostTransaction();
    return st;
  }
  group_open_ = false;
  RunAfterCommit();
  return Status::OK();
}

int64_t SqliteDb::GroupAgeNs() const {
  if (!group_open_) return 0;
  return std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                               group_started_)
             .count());
}

void SqliteDb::AfterCommit(std::function<void()> fn) {
  if (!in_op_ && !group_open_) {
    fn();
    return;
  }
  after_commit_.push_back(std::move(fn));
}

void SqliteDb::RunAfterCommit() {
  if (group_open_ || in_op_) return;
  auto fns = std::move(after_commit_);
  after_commit_.clear();
  after_commit_mark_ = 0;
  for (auto& fn : fns) fn();
}

// SQLite rolled the whole transaction back by itself (an I/O error, a full
// disk): what the group held is gone, so are its deferred side effects.
void SqliteDb::LostTransaction() {
  group_open_ = false;
  in_op_ = false;
  op_savepoint_ = false;
  if (durable_txn_) {
    durable_txn_ = false;
    (void)Step(kSyncNormal);
  }
  after_commit_.clear();
  after_commit_mark_ = 0;
}

}  // namespace qstor::fs::mount
