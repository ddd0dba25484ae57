// BIP39 mnemonics (English wordlist) and PBKDF2-HMAC-SHA512.
//
// The standard English wordlist (2048 words, SHA-256
// 2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda) ships
// as grid/data/bip39-english.txt and is embedded in the binary at build
// time; its hash is checked before first use.
//
// Secrets: mnemonics, entropy and seeds pass through these functions as
// plain values; callers wipe them (sodium_memzero) when done and never log
// them. Error messages never quote a valid word sequence, only the position
// and the offending (unknown) word.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace qstor::grid::bip39 {

inline constexpr char kEnglishWordlistSha256[] =
    "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda";

// The embedded wordlist bytes exactly as shipped (for the checksum test).
std::string_view EnglishWordlistBytes();

// The 2048 words in order. Fails (kCorruption) if the embedded file does not
// have the expected SHA-256 or does not hold 2048 sorted words.
Result<const std::vector<std::string>*> EnglishWordlist();

// PBKDF2 (RFC 8018) with HMAC-SHA512 as the PRF, built on libsodium's
// crypto_auth_hmacsha512. Fills `out` (any length >= 1). iterations >= 1.
Status Pbkdf2HmacSha512(std::string_view password, std::span<const uint8_t> salt,
                        uint32_t iterations, std::span<uint8_t> out);

// Entropy (16, 20, 24, 28 or 32 bytes) -> mnemonic: words separated by one
// space, checksum = first ENT/32 bits of SHA-256(entropy).
Result<std::string> EntropyToMnemonic(std::span<const uint8_t> entropy);

// Mnemonic -> entropy, validating everything: word count 12/15/18/21/24,
// every word in the list (an unknown word gets "did you mean ...?"), and the
// checksum. Words may be separated by any whitespace and in any case.
Result<std::vector<uint8_t>> MnemonicToEntropy(std::string_view mnemonic);

// Same checks as MnemonicToEntropy, returns only the verdict.
Status ValidateMnemonic(std::string_view mnemonic);

// Returns the mnemonic in canonical form: lower case, single spaces.
// Fails like MnemonicToEntropy.
Result<std::string> NormalizeMnemonic(std::string_view mnemonic);

// A fresh 24-word mnemonic from 256 bits of libsodium randomness.
Result<std::string> GenerateMnemonic24();

// The standard BIP39 seed: PBKDF2-HMAC-SHA512(mnemonic sentence,
// "mnemonic" + passphrase, 2048) (64 bytes). The mnemonic is validated and
// normalized first. Passphrases are used as given (no NFKD step), so only
// ASCII passphrases are portable to other tools.
Result<std::array<uint8_t, 64>> MnemonicToSeed(std::string_view mnemonic,
                                               std::string_view passphrase);

// The closest wordlist entry to `word` (shared 4-letter prefix first, then
// smallest edit distance), for "did you mean" hints.
std::string SuggestWord(std::string_view word);

}  // namespace qstor::grid::bip39
