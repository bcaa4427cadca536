/*
 * vany-ffi's C shim: DPDK's data-path calls are `static inline` in its headers, so they
 * have no symbol to link against. Each function here is a real, exported wrapper around
 * one of them (or reads something only C can name, like the per-lcore rte_errno).
 */
#include <rte_config.h>
#include <string.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

int vany_rte_errno(void) { return rte_errno; }

uint16_t vany_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t vany_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *vany_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int vany_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void vany_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void vany_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count)
{
	rte_pktmbuf_free_bulk(mbufs, count);
}

void *vany_pktmbuf_data(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }

uint16_t vany_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }

uint32_t vany_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }

uint16_t vany_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

uint16_t vany_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

char *vany_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }

void vany_pktmbuf_reset(struct rte_mbuf *m) { rte_pktmbuf_reset(m); }

/* One call per burst instead of three per packet: the data pointer, the first segment's
 * length and the segment count of each of `n` received mbufs. */
void vany_mbufs_rx_info(struct rte_mbuf **m, uint16_t n, void **data, uint16_t *len,
			uint16_t *segs)
{
	for (uint16_t i = 0; i < n; i++) {
		data[i] = rte_pktmbuf_mtod(m[i], void *);
		len[i] = m[i]->data_len;
		segs[i] = m[i]->nb_segs;
	}
}

/* The data pointer of each of `n` (freshly allocated, reset) mbufs. */
void vany_mbufs_data(struct rte_mbuf **m, unsigned n, void **data)
{
	for (unsigned i = 0; i < n; i++)
		data[i] = rte_pktmbuf_mtod(m[i], void *);
}

/* Makes each of `n` mbufs one segment of len[i] bytes (at most its data room, which the
 * caller checked): data_len and pkt_len, as rte_pktmbuf_append would leave them. */
void vany_mbufs_set_len(struct rte_mbuf **m, const uint16_t *len, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		m[i]->data_len = len[i];
		m[i]->pkt_len = len[i];
	}
}

/* Every IPv6 RSS hash type: addresses, and the ports of TCP/UDP/SCTP where the device
 * hashes them, so that every packet of one flow lands on the same queue. */
#define VANY_RSS_IPV6 (RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 | \
	RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP | \
	RTE_ETH_RSS_NONFRAG_IPV6_SCTP | RTE_ETH_RSS_NONFRAG_IPV6_OTHER | \
	RTE_ETH_RSS_IPV6_EX | RTE_ETH_RSS_IPV6_TCP_EX | RTE_ETH_RSS_IPV6_UDP_EX)

/* rte_eth_dev_configure (the struct is large and changes between DPDK releases, so Rust
 * never sees its layout): a zeroed rte_eth_conf (no offloads), plus, with more than one
 * receive queue, RSS over the IPv6 hash types the device supports (its default key).
 * A device that supports none of them keeps the default (no RSS). `*rss_hf` gets the
 * hash types enabled (0 without RSS). */
int vany_port_configure(uint16_t port, uint16_t nb_rx, uint16_t nb_tx, uint64_t *rss_hf)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	*rss_hf = 0;
	if (nb_rx > 1) {
		struct rte_eth_dev_info info;
		int rc = rte_eth_dev_info_get(port, &info);
		if (rc != 0)
			return rc;
		uint64_t hf = VANY_RSS_IPV6 & info.flow_type_rss_offloads;
		if (hf != 0) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf.rx_adv_conf.rss_conf.rss_key = NULL;
			conf.rx_adv_conf.rss_conf.rss_hf = hf;
			*rss_hf = hf;
		}
	}
	return rte_eth_dev_configure(port, nb_rx, nb_tx, &conf);
}

/* What the device supports: out[0] receive queues, out[1] transmit queues, out[2] the
 * RSS hash types (flow_type_rss_offloads). */
int vany_port_info(uint16_t port, uint64_t out[3])
{
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		return rc;
	out[0] = info.max_rx_queues;
	out[1] = info.max_tx_queues;
	out[2] = info.flow_type_rss_offloads;
	return 0;
}

/* The basic counters of rte_eth_stats (same reason: Rust never sees the struct). */
int vany_port_stats(uint16_t port, uint64_t out[6])
{
	struct rte_eth_stats s;
	int rc = rte_eth_stats_get(port, &s);
	if (rc != 0)
		return rc;
	out[0] = s.ipackets;
	out[1] = s.opackets;
	out[2] = s.ibytes;
	out[3] = s.obytes;
	out[4] = s.imissed;
	out[5] = s.rx_nombuf;
	return 0;
}
