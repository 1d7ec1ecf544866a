"""Probing, decoding and writing media files: the one ffmpeg runner, images, audio, metadata."""
