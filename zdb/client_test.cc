// NamespaceInfo::Parse against the NSINFO replies real 0-db servers write.
#include <gtest/gtest.h>

#include <string>

#include "zdb/client.h"

namespace qstor::zdb {
namespace {

// The payload of a real 0-db NSINFO reply (the bulk string's body), byte for
// byte as command_nsinfo() in threefoldtech/0-db zdbd/commands_namespace.c,
// commit 63656de0a7051e0949cd281b8d20fe321df22e60, writes it with its sprintf
// format strings, in its order:
//   "name: %s", "entries: %lu", "public: %s", "worm: %s", "locked: %s",
//   "password: %s", "data_size_bytes: %lu", "data_size_mb: %.2f",
//   "data_limits_bytes: %lu", "index_size_bytes: %lu", "index_size_kb: %.2f",
//   "next_internal_id: 0x%08x" of bswap_32(next id), "mode: %s",
//   six "stats_*: %lu/%ld" lines, "space_available: %lu" (maxsize > 0 only),
//   "index_disk_freespace_bytes: %lu", "index_disk_freespace_mb: %.2f",
//   "data_disk_freespace_bytes: %lu", "data_disk_freespace_mb: %.2f".
// Values: a password-protected public userkey namespace of 3 keys (1536
// payload bytes, maxsize 10 GiB) whose next internal id is 3, on a disk with
// 40 GiB free.
const char kReal0dbNsInfo[] =
    "# namespace\n"
    "name: qstor-meta-1\n"
    "entries: 3\n"
    "public: yes\n"
    "worm: no\n"
    "locked: no\n"
    "password: yes\n"
    "data_size_bytes: 1536\n"
    "data_size_mb: 0.00\n"
    "data_limits_bytes: 10737418240\n"
    "index_size_bytes: 214\n"
    "index_size_kb: 0.21\n"
    "next_internal_id: 0x03000000\n"
    "mode: userkey\n"
    "stats_index_io_errors: 0\n"
    "stats_index_io_error_last: 0\n"
    "stats_index_faults: 0\n"
    "stats_data_io_errors: 0\n"
    "stats_data_io_error_last: 0\n"
    "stats_data_faults: 0\n"
    "space_available: 10737416704\n"
    "index_disk_freespace_bytes: 42949672960\n"
    "index_disk_freespace_mb: 40960.00\n"
    "data_disk_freespace_bytes: 42949672960\n"
    "data_disk_freespace_mb: 40960.00\n";

TEST(ZdbNamespaceInfo, ParsesTheReal0dbReply) {
  auto info = NamespaceInfo::Parse(kReal0dbNsInfo);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "qstor-meta-1");
  EXPECT_EQ(info->entries, 3u);
  EXPECT_TRUE(info->is_public);
  EXPECT_FALSE(info->worm);
  EXPECT_FALSE(info->locked);
  EXPECT_TRUE(info->password);
  EXPECT_EQ(info->data_size_bytes, 1536u);
  EXPECT_EQ(info->data_limits_bytes, 10737418240u);
  EXPECT_EQ(info->index_size_bytes, 214u);
  EXPECT_EQ(info->next_internal_id, 3u);  // 0x03000000 is the byte-swapped id
  EXPECT_EQ(info->mode, NsMode::kUser);
  ASSERT_TRUE(info->space_available.has_value());
  EXPECT_EQ(*info->space_available, 10737416704u);
  // Every line is kept verbatim, the ones without a typed field too.
  EXPECT_EQ(info->fields.at("data_size_mb"), "0.00");
  EXPECT_EQ(info->fields.at("next_internal_id"), "0x03000000");
  EXPECT_EQ(info->fields.at("data_disk_freespace_bytes"), "42949672960");
}

// v2.0.7, the 0-db grid nodes run, prints the id as "0x%08" PRIx64 of the
// 64-bit byte-swapped id (as qstor issue 19, item 8, saw it): 0x5b00000000000000 is 91,
// and a new namespace prints 0x00000000.
TEST(ZdbNamespaceInfo, NextInternalIdIn64BitHexDecimalAndNewNamespace) {
  auto a = NamespaceInfo::Parse("name: a\nmode: sequential\nnext_internal_id: 0x5b00000000000000\n");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->next_internal_id, 91u);
  EXPECT_EQ(a->mode, NsMode::kSeq);
  auto b = NamespaceInfo::Parse("name: b\nnext_internal_id: 0x00000000\n");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->next_internal_id, 0u);
  // 256 swapped to 0x0001000000000000: "%08" drops the leading zeros.
  auto c = NamespaceInfo::Parse("name: c\nnext_internal_id: 0x1000000000000\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->next_internal_id, 256u);
  // Decimal (what qstor's own server printed before it followed 0-db) is the id itself.
  auto d = NamespaceInfo::Parse("name: d\nnext_internal_id: 91\n");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->next_internal_id, 91u);
}

TEST(ZdbNamespaceInfo, HexAndDecimalNumbersMixed) {
  auto info = NamespaceInfo::Parse(
      "# namespace\r\n"
      "name: mix\r\n"
      "entries: 0x10\r\n"
      "data_size_bytes: 4096\r\n"
      "data_limits_bytes: 0X100000\r\n"
      "index_size_bytes: 0x0\r\n"
      "space_available: 1044480\r\n");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "mix");
  EXPECT_EQ(info->entries, 16u);
  EXPECT_EQ(info->data_size_bytes, 4096u);
  EXPECT_EQ(info->data_limits_bytes, 1048576u);
  EXPECT_EQ(info->index_size_bytes, 0u);
  EXPECT_EQ(info->space_available.value_or(0), 1044480u);
}

TEST(ZdbNamespaceInfo, UnknownAndUnparsableFieldsAreSkippedNotFatal) {
  auto info = NamespaceInfo::Parse(
      "# namespace\n"
      "name: odd\n"
      "entries: lots\n"                        // not a number: stays 0
      "data_size_bytes: 12\n"
      "data_limits_bytes: -5\n"                // negative: skipped
      "index_size_bytes: 0x\n"                 // hex without digits: skipped
      "next_internal_id: 0xzz\n"               // bad hex: skipped
      "space_available: 99999999999999999999999\n"  // overflows u64: skipped
      "future_field: whatever: with colons\n"  // unknown: kept, ignored
      "a line without a separator\n"
      "data_size_mb: 1,5\n");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->name, "odd");
  EXPECT_EQ(info->entries, 0u);
  EXPECT_EQ(info->data_size_bytes, 12u);
  EXPECT_EQ(info->data_limits_bytes, 0u);
  EXPECT_EQ(info->index_size_bytes, 0u);
  EXPECT_EQ(info->next_internal_id, 0u);
  EXPECT_FALSE(info->space_available.has_value());
  EXPECT_EQ(info->fields.at("future_field"), "whatever: with colons");
  EXPECT_EQ(info->fields.at("entries"), "lots");
}

// 0-db prints maxsize - datasize as an unsigned subtraction: with maxsize
// lowered below what is stored it wraps, and the namespace must read as full.
TEST(ZdbNamespaceInfo, WrappedSpaceAvailableReadsAsFull) {
  auto info = NamespaceInfo::Parse(
      "name: over\n"
      "data_size_bytes: 2048\n"
      "data_limits_bytes: 1024\n"
      "space_available: 18446744073709550592\n");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->space_available.value_or(1), 0u);
  EXPECT_EQ(info->fields.at("space_available"), "18446744073709550592");
}

TEST(ZdbNamespaceInfo, MissingNameIsAProtocolError) {
  for (const char* text : {"", "# namespace\n", "entries: 3\ndata_size_bytes: 1\n",
                           "name:x\n", "# name: x\n"}) {
    auto info = NamespaceInfo::Parse(text);
    ASSERT_FALSE(info.ok()) << text;
    EXPECT_EQ(info.status().code(), Status::Code::kProtocol) << text;
    EXPECT_NE(info.status().message().find("no 'name' line"), std::string::npos);
  }
  // The real reply without its name line is refused too.
  std::string real = kReal0dbNsInfo;
  real.erase(real.find("name: "), std::string("name: qstor-meta-1\n").size());
  EXPECT_EQ(NamespaceInfo::Parse(real).status().code(), Status::Code::kProtocol);
}

}  // namespace
}  // namespace qstor::zdb
