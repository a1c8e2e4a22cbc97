"""Media, without AWS: what a source is (probe), which renditions it gets (ladder), the FFmpeg
commands (ffmpeg) and running them (render), and where the binaries are (toolchain)."""
