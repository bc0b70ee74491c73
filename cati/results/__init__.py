"""The assessment office's view: district scores, AAPOR rates and the responses export."""
