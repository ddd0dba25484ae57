// Opens, binds and listens an acceptor on 127.0.0.1:port (0 = a free port):
// the one way the devnet's servers listen (HttpServer, JsonRpcWsServer).
#pragma once

#include <cstdint>

#include <boost/asio/ip/tcp.hpp>

namespace qstor::devnet {

inline boost::system::error_code ListenOnLoopback(boost::asio::ip::tcp::acceptor& acceptor,
                                                  uint16_t port) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  asio::ip::tcp::endpoint ep(asio::ip::address_v4::loopback(), port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  return ec;
}

}  // namespace qstor::devnet
