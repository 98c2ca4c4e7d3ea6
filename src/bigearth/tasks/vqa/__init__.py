"""Visual question answering on reBEN (LiT-4-RSVQA): recipes, question data, the Lightning task, metrics, training."""
