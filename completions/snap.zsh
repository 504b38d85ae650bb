#compdef snap

_snap_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _SNAP_COMPLETE=complete_zsh snap)
}

compdef _snap_completion snap
