"""Extended Isolation Forest scoring as a UWS job kind; its input is selected by ADQL."""
