// The Terms and Conditions a twin accepts before TFChain lets it exist:
// `TfgridModule.user_accept_tc(document_link, document_hash)` must precede
// `create_twin` (GRID-V3 section 1.2). What qstor sends is what tfgrid-sdk-ts
// sends (grid_client `clients/tf-grid/terms_and_conditions.ts`): the link
// `kTermsAndConditionsLink` (grid/tfchain_client.h) and, as the hash, the
// lowercase hex MD5 of the document that a GET of that link returns (the
// fragment "#/" is not sent, as no HTTP client sends one; redirects are
// followed, as axios does). The pallet only checks the character sets and
// lengths (CheckTermsLink), not the document.
//
// On the devnet the document is the devnet's own, served at
// `GET <devnet base URL>/legal/terms`, and the link is that URL.
//
// Contract: one GET, bounded in time (TermsFetchOptions::timeout) and size
// (max_bytes); errors say what failed and where: kUnavailable (cannot
// connect or resolve), kTimeout, kFailedPrecondition (an answer other than
// 200), kResourceExhausted (larger than max_bytes), kInvalidArgument (a link
// the pallet would refuse, an unknown network, an empty devnet URL).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace qstor::grid {

struct TermsDocument {
  std::string link;     // document_link, as sent to user_accept_tc
  std::string md5_hex;  // document_hash: 32 lowercase hex characters
};

struct TermsFetchOptions {
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  size_t max_bytes = 4u << 20;  // the real page is a small HTML file
  long max_redirects = 5;
};

// The pallet's rules for the link (pallet-tfgrid terms_cond.rs): 1 to 2048
// bytes of A-Za-z0-9 and -._~:/?#[]@!$&'()*+,;=
Status CheckTermsLink(std::string_view link);

// GETs `link` and hashes the body. The link must be http:// or https://.
Result<TermsDocument> FetchTermsDocument(const std::string& link,
                                         const TermsFetchOptions& options = {});

// The document for a network: "main", "test", "qa" and "dev" fetch
// kTermsAndConditionsLink; "devnet" fetches <devnet_base_url>/legal/terms
// (devnet_base_url as grid::NetworkEndpoint::base_url, "http://127.0.0.1:PORT").
Result<TermsDocument> FetchTermsAndConditions(const std::string& network_name,
                                              const std::string& devnet_base_url,
                                              const TermsFetchOptions& options = {});

}  // namespace qstor::grid
