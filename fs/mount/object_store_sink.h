// A SegmentSink over the storage engine (fs/object_store.h): segments are
// compressed, encrypted and erasure-coded k+m over 0-db backends.
//
// Segments map 1:1 to object-store segments under "seg/<id>". Metadata blobs
// (the mount's SQLite snapshot, possibly larger than one object-store blob)
// are split into chunks stored as segments "meta/<name>/<gen>/<i>"; a small
// record "meta/<name>" (ObjectStore blob: {"gen", "chunks", "size"}) commits
// a generation, after which the previous generation's chunks are deleted.
// A crash between the two leaves the previous snapshot intact. Records of at
// most 4 KiB (fsmeta.head, fsmeta.lease: fs/mount/writer_lease.h) are stored
// inline in the record, hex-encoded under "inline", with no chunks. Writes to
// one record are serialized within the process; different records are not.
#pragma once

#include <memory>

#include "fs/mount/segment_sink.h"
#include "fs/object_store.h"

namespace qstor::fs::mount {

std::unique_ptr<SegmentSink> NewObjectStoreSink(std::shared_ptr<fs::ObjectStore> store);

}  // namespace qstor::fs::mount
