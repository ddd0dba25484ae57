// reconciler/observe.h against a real devnet (in process, real HTTP, real
// `qstor zdb serve` nodes): the state rebuilt from the twin's contracts and
// the storage layout the mount gets from it.
#include "reconciler/observe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "cli/devnet_storage_test_util.h"
#include "zdb/client.h"

namespace qstor::reconciler {
namespace {

using qstor::testing::DevnetTwin;

constexpr uint64_t kCapacity = 1ull << 30;

class ObserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = qstor::testing::FreshTempDir(
        std::string("observe-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    Status st = net_.Start(dir_ + "/devnet");
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    net_.Stop();
    std::filesystem::remove_all(dir_);
  }

  // "alpha": k=2, m=1: data on nodes 1, 3, 5; metadata on nodes 2, 4.
  void DeployAlpha() {
    const uint32_t data_nodes[] = {1, 3, 5};
    for (uint32_t i = 0; i < 3; ++i) {
      auto c = net_.DeployNamespace("alpha", Role::kData, i, 2, 1, kCapacity, data_nodes[i]);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      contracts_[fmt::format("data{}", i)] = *c;
    }
    const uint32_t meta_nodes[] = {2, 4};
    for (uint32_t i = 0; i < 2; ++i) {
      auto c = net_.DeployNamespace("alpha", Role::kMeta, i, 2, 1, kCapacity, meta_nodes[i]);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      contracts_[fmt::format("meta{}", i)] = *c;
    }
  }

  std::string dir_;
  DevnetTwin net_;
  std::map<std::string, uint64_t> contracts_;
};

TEST_F(ObserveTest, RebuildsStateAndLayoutFromTheTwinsContracts) {
  ASSERT_NO_FATAL_FAILURE(DeployAlpha());
  // Another manifest, another network's name, a cancelled one and a foreign
  // contract: none of them belongs to "alpha".
  ASSERT_TRUE(net_.DeployNamespace("beta", Role::kData, 0, 1, 0, kCapacity, 6).ok());
  ASSERT_TRUE(net_.DeployNamespace("gamma", Role::kData, 0, 1, 0, kCapacity, 7, 64 << 20,
                                   "main")
                  .ok());
  auto gone = net_.DeployNamespace("delta", Role::kData, 0, 1, 0, kCapacity, 8);
  ASSERT_TRUE(gone.ok());
  ASSERT_TRUE(net_.Cancel(*gone).ok());
  ASSERT_TRUE(net_.DeployForeign(9).ok());

  auto names = ManifestNamesOnGrid(net_.grid(), net_.twin_id(), "devnet");
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"alpha", "beta"}));
  auto main_names = ManifestNamesOnGrid(net_.grid(), net_.twin_id(), "main");
  ASSERT_TRUE(main_names.ok());
  EXPECT_EQ(*main_names, (std::vector<std::string>{"gamma"}));

  auto s = RebuildStateFromGrid(net_.grid(), net_.twin_id(), "alpha", "devnet");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "alpha");
  EXPECT_EQ(s->network, "devnet");
  EXPECT_EQ(s->twin_id, net_.twin_id());
  EXPECT_EQ(s->data_shards, 2);
  EXPECT_EQ(s->parity_shards, 1);
  EXPECT_EQ(s->capacity_bytes, kCapacity);
  EXPECT_FALSE(s->lineage.empty());
  ASSERT_EQ(s->namespaces.size(), 5u);
  const char* slots[] = {"data[0]", "data[1]", "data[2]", "meta[0]", "meta[1]"};
  const uint32_t nodes[] = {1, 3, 5, 2, 4};
  for (size_t i = 0; i < 5; ++i) {
    const NamespaceState& n = s->namespaces[i];
    SCOPED_TRACE(n.Slot());
    EXPECT_EQ(n.Slot(), slots[i]);
    EXPECT_EQ(n.node_id, nodes[i]);
    auto node = net_.grid().GetNode(n.node_id);
    ASSERT_TRUE(node.ok());
    EXPECT_EQ(n.farm_id, node->farm_id);
    EXPECT_EQ(n.country, node->location.country);
    EXPECT_EQ(n.city, node->location.city);
    EXPECT_EQ(n.contract_id, contracts_[fmt::format("{}{}", RoleName(n.role), n.index)]);
    EXPECT_EQ(n.workload, fmt::format("{}{}", RoleName(n.role), n.index));
    EXPECT_EQ(n.size_bytes, 256ull << 20);
    EXPECT_EQ(n.mode, "user");
    EXPECT_EQ(n.status, "ok");
    EXPECT_TRUE(n.deployed());
    EXPECT_EQ(n.host, "127.0.0.1");
    EXPECT_NE(n.ns.find(std::to_string(n.contract_id)), std::string::npos) << n.ns;
  }

  // The state file round-trips and holds no namespace password.
  std::string path = StatePath(dir_ + "/home", "devnet", "alpha");
  State saved = *s;
  ASSERT_TRUE(SaveState(path, saved).ok());
  auto loaded = LoadState(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->ToJson(), saved.ToJson());

  // The layout: every namespace, passwords derived from the identity, and
  // they really open the namespaces on the nodes' 0-db.
  auto layout = LayoutFromState(*loaded, net_.identity());
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->k, 2);
  EXPECT_EQ(layout->m, 1);
  EXPECT_EQ(layout->capacity_bytes, kCapacity);
  ASSERT_EQ(layout->data.size(), 3u);
  ASSERT_EQ(layout->meta.size(), 2u);
  EXPECT_EQ(layout->data[1].name, "data1@node3");
  EXPECT_EQ(layout->meta[0].name, "meta0@node2");
  std::string text;
  {
    std::ifstream f(path);
    text.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  std::set<std::string> passwords;
  for (const auto* group : {&layout->data, &layout->meta}) {
    for (const BackendSpec& b : *group) {
      SCOPED_TRACE(b.name);
      const bool data = group == &layout->data;
      uint32_t index = static_cast<uint32_t>(&b - group->data());
      auto pw = net_.identity().NamespacePassword("alpha", "devnet", data ? "data" : "meta", index);
      ASSERT_TRUE(pw.ok());
      EXPECT_EQ(b.password, *pw);
      passwords.insert(b.password);
      EXPECT_EQ(text.find(b.password), std::string::npos) << "password in the state file";
      auto node = net_.grid().GetNode(static_cast<uint32_t>(std::stoul(b.labels.at("node"))));
      ASSERT_TRUE(node.ok());
      EXPECT_EQ(b.labels.at("farm"), std::to_string(node->farm_id));
      EXPECT_EQ(b.labels.at("country"), node->location.country);
      zdb::ClientOptions co;
      co.connect_timeout = std::chrono::milliseconds(2000);
      auto c = zdb::Client::Connect(b.host, b.port, co);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      Status sel = (*c)->Select(b.ns, b.password);
      EXPECT_TRUE(sel.ok()) << sel.ToString();
      EXPECT_FALSE((*c)->Select(b.ns, "not-the-password").ok());
    }
  }
  EXPECT_EQ(passwords.size(), 5u) << "every namespace has its own password";

  // Nothing of that name.
  auto none = RebuildStateFromGrid(net_.grid(), net_.twin_id(), "delta", "devnet");
  EXPECT_EQ(none.status().code(), Status::Code::kNotFound) << none.status().ToString();
  auto wrong_net = RebuildStateFromGrid(net_.grid(), net_.twin_id(), "alpha", "main");
  EXPECT_EQ(wrong_net.status().code(), Status::Code::kNotFound);
}

TEST_F(ObserveTest, DownNodesReplacementsAndUnfinishedApplies) {
  ASSERT_NO_FATAL_FAILURE(DeployAlpha());

  // A data node down: its slot is known but has no address; k=2 of 3 left,
  // so the layout still works without it.
  ASSERT_TRUE(net_.NodeAction(3, "down").ok());
  auto s = RebuildStateFromGrid(net_.grid(), net_.twin_id(), "alpha", "devnet");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const NamespaceState* d1 = s->Find(Role::kData, 1);
  ASSERT_NE(d1, nullptr);
  EXPECT_FALSE(d1->deployed());
  EXPECT_NE(d1->status.find("unreachable"), std::string::npos) << d1->status;
  auto layout = LayoutFromState(*s, net_.identity());
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->data.size(), 2u);

  // Two down: fewer than k deployed data namespaces.
  ASSERT_TRUE(net_.NodeAction(5, "down").ok());
  s = RebuildStateFromGrid(net_.grid(), net_.twin_id(), "alpha", "devnet");
  ASSERT_TRUE(s.ok());
  auto short_layout = LayoutFromState(*s, net_.identity());
  EXPECT_EQ(short_layout.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(short_layout.status().message().find("qstor apply"), std::string::npos)
      << short_layout.status().message();
  ASSERT_TRUE(net_.NodeAction(3, "up").ok());
  ASSERT_TRUE(net_.NodeAction(5, "up").ok());

  // A wiped node reports its namespace missing: not deployed.
  ASSERT_TRUE(net_.NodeAction(5, "wipe").ok());
  s = RebuildStateFromGrid(net_.grid(), net_.twin_id(), "alpha", "devnet");
  ASSERT_TRUE(s.ok());
  ASSERT_NE(s->Find(Role::kData, 2), nullptr);
  EXPECT_FALSE(s->Find(Role::kData, 2)->deployed());
  EXPECT_NE(s->Find(Role::kData, 2)->status.find("error"), std::string::npos)
      << s->Find(Role::kData, 2)->status;

  // The slot replaced on another node (what apply does): while both
  // contracts live, the newer one wins; after the old one is cancelled it is
  // the only one.
  auto repl = net_.DeployNamespace("alpha", Role::kData, 2, 2, 1, kCapacity, 7);
  ASSERT_TRUE(repl.ok()) << repl.status().ToString();
  s = RebuildStateFromGrid(net_.grid(), net_.twin_id(), "alpha", "devnet");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->namespaces.size(), 5u);
  EXPECT_EQ(s->Find(Role::kData, 2)->node_id, 7u);
  EXPECT_EQ(s->Find(Role::kData, 2)->contract_id, *repl);
  EXPECT_TRUE(s->Find(Role::kData, 2)->deployed());
  ASSERT_TRUE(net_.Cancel(contracts_["data2"]).ok());
  s = RebuildStateFromGrid(net_.grid(), net_.twin_id(), "alpha", "devnet");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->Find(Role::kData, 2)->contract_id, *repl);
  layout = LayoutFromState(*s, net_.identity());
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->data[2].name, "data2@node7");

  // No metadata namespace deployed: apply did not finish.
  State no_meta = *s;
  std::erase_if(no_meta.namespaces, [](const NamespaceState& n) { return n.role == Role::kMeta; });
  auto nm = LayoutFromState(no_meta, net_.identity());
  EXPECT_EQ(nm.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(nm.status().message().find("metadata"), std::string::npos) << nm.status().message();

  // Another mnemonic gets other passwords for the same state.
  auto other = grid::Identity::FromMnemonic(*grid::bip39::GenerateMnemonic24());
  ASSERT_TRUE(other.ok());
  auto ol = LayoutFromState(*s, *other);
  ASSERT_TRUE(ol.ok());
  EXPECT_NE(ol->data[0].password, layout->data[0].password);
}

}  // namespace
}  // namespace qstor::reconciler
