# bash completion for ctrack (installed as share/bash-completion/completions/ctrack).
# Commands and options are read from the binary's own --help, so they follow the code; the
# sysctl names after --set / --sweep come from `ctrack replay --help` the same way.
_ctrack() {
  local cur prev cmd
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    local cmds
    cmds=$("${COMP_WORDS[0]}" --help 2>/dev/null | sed -n 's/^  \([a-z][a-z0-9-]*\) .*/\1/p')
    COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
    return
  fi
  cmd=${COMP_WORDS[1]}
  case $prev in
    --set | --sweep)
      local names
      names=$("${COMP_WORDS[0]}" replay --help 2>/dev/null |
        grep -o '\b\(nf_conntrack\|ctrack\)_[a-z0-9_]*\b\|\bhash_seed\b' | sort -u)
      compopt -o nospace 2>/dev/null
      COMPREPLY=($(compgen -W "$names" -S = -- "$cur"))
      return
      ;;
    -o | --verdicts | --report | --times-from | --pcap)
      COMPREPLY=($(compgen -f -- "$cur"))
      return
      ;;
  esac
  if [[ $cur == -* ]]; then
    local opts
    opts=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | grep -o -- '--\?[A-Za-z][A-Za-z0-9-]*' |
      grep -- '^-' | sort -u)
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _ctrack ctrack
