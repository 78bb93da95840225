"""``python -m karton_pcap_miner`` runs the service, as the ``karton-pcap-miner`` command does."""

from .service import main

main()
