"""The services describing themselves: VOResource/VODataService/TAPRegExt records, OAI-PMH."""
