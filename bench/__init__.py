"""`make bench`: overlayc against iproute2 and a raw-netlink floor, in throwaway namespaces.

Cases: apply (fdb/neigh), xfrm (policies), noop (plan of an unchanged node + peak RSS), drift,
teardown (destroy of many networks' devices), compile (generated clusters). See bench/README.md.
"""
