"""Mask every face in a photo or a video, check the result, and keep the boxes as data."""
