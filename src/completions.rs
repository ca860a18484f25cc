//! `guardrail completions bash|zsh|fish` and `guardrail man`: clap's own
//! completion scripts and manual page, with the positional branch and tag
//! arguments completed from the repository. The scripts ask the hidden
//! `guardrail __complete-refs branches|tags` (with the `-C` typed on the
//! line, if any), so names stay current without regenerating the script.
use std::path::Path;

use clap::ValueEnum;
use guardrail::pipeline::config::Config;
use guardrail::pipeline::repo::{Repo, RepoError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RefKind {
    /// Feature branches, local and remote-tracking (main left out).
    Branches,
    /// Prod tags, newest first.
    Tags,
}

/// Branch or prod tag names for completion.
pub fn refs(repo: &Repo, cfg: &Config, kind: RefKind) -> Result<Vec<String>, RepoError> {
    Ok(match kind {
        RefKind::Branches => repo
            .branch_refs(&cfg.project.main_branch)?
            .into_iter()
            .map(|b| b.name)
            .collect(),
        RefKind::Tags => {
            let mut tags: Vec<String> = repo
                .tag_names()?
                .into_iter()
                .filter(|t| t.starts_with(&cfg.project.tag_prefix))
                .collect();
            tags.sort_unstable_by(|a, b| b.cmp(a));
            tags
        }
    })
}

/// The completion script for `shell`: clap's, with branch and tag names
/// added for the positional arguments of `check`, `snapshot`, `gate`,
/// `deploy` (branches) and `rollback` (tags).
pub fn script(shell: Shell, cmd: &clap::Command) -> String {
    let mut out = Vec::new();
    let mut cmd = without_hidden(cmd);
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "guardrail", &mut out);
    let clap_script = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => format!("{clap_script}{BASH_REFS}"),
        Shell::Zsh => zsh(&clap_script),
        Shell::Fish => format!("{clap_script}{FISH_REFS}"),
    }
}

/// `cmd` without its hidden subcommands (`__complete-refs`), which clap's
/// generators would offer otherwise.
fn without_hidden(cmd: &clap::Command) -> clap::Command {
    // clap's names are `&'static str` (no "string" feature): the binary's
    // name and version are the ones main.rs gives it.
    clap::Command::new("guardrail")
        .version(env!("GUARDRAIL_VERSION"))
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// Bash: a wrapper in front of clap's `_guardrail` that answers the branch
/// or tag position itself and leaves everything else to clap's.
const BASH_REFS: &str = r#"
# Branch and tag names from the repository (guardrail __complete-refs).
_guardrail_refs() {
    local i w sub="" pos=0 kind=""
    local -a repo=()
    for (( i=1; i<COMP_CWORD; i++ )); do
        w="${COMP_WORDS[i]}"
        case "$w" in
            -C) w="${COMP_WORDS[i+1]}"; repo=(-C "${w/#\~/$HOME}"); (( i++ )); continue ;;
            -C*) w="${w#-C}"; repo=(-C "${w/#\~/$HOME}"); continue ;;
            --reason|--answers|--answer) (( i++ )); continue ;;
            -*) continue ;;
        esac
        if [[ -z "$sub" ]]; then sub="$w"; else (( pos++ )); fi
    done
    case "$sub" in
        check|snapshot|gate|deploy) kind=branches ;;
        rollback) kind=tags ;;
        *) return 1 ;;
    esac
    local cur="${COMP_WORDS[COMP_CWORD]}"
    if (( pos != 0 )) || [[ "$cur" == -* ]]; then
        return 1
    fi
    local IFS=$'\n'
    COMPREPLY=( $(compgen -W "$(guardrail "${repo[@]}" __complete-refs "$kind" 2>/dev/null)" -- "$cur") )
    return 0
}

_guardrail_with_refs() {
    _guardrail_refs || _guardrail "$@"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _guardrail_with_refs -o nosort -o bashdefault -o default guardrail
else
    complete -F _guardrail_with_refs -o bashdefault -o default guardrail
fi
"#;

/// Zsh: the branch and tag arguments call these instead of `_default`.
const ZSH_REFS: &str = r#"
# Branch and tag names from the repository (guardrail __complete-refs).
_guardrail_refs() {
    local i repo=()
    for (( i = 1; i < $#words; i++ )); do
        [[ "$words[i]" == -C ]] && repo=(-C "${words[i+1]/#\~/$HOME}")
    done
    local -a names
    names=(${(f)"$(guardrail $repo __complete-refs $1 2>/dev/null)"})
    _describe -t $1 $1 names
}
(( $+functions[_guardrail_branches] )) ||
_guardrail_branches() { _guardrail_refs branches }
(( $+functions[_guardrail_tags] )) ||
_guardrail_tags() { _guardrail_refs tags }

"#;

fn zsh(clap_script: &str) -> String {
    let mut out = String::with_capacity(clap_script.len() + ZSH_REFS.len());
    for line in clap_script.lines() {
        if line.starts_with("if [ \"$funcstack[1]\" = \"_guardrail\" ]") {
            out.push_str(ZSH_REFS);
        }
        // `':branch -- The feature branch:_default' \` and
        // `'::tag -- The prod tag (…):_default' \`.
        let arg = line.strip_prefix('\'').unwrap_or("");
        let line = if arg.starts_with(":branch") && line.contains(":_default'") {
            line.replace(":_default'", ":_guardrail_branches'")
        } else if arg.starts_with("::tag") && line.contains(":_default'") {
            line.replace(":_default'", ":_guardrail_tags'")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Fish: branch and tag names after the subcommands that take them.
const FISH_REFS: &str = r#"
# Branch and tag names from the repository (guardrail __complete-refs).
function __fish_guardrail_refs
    set -l tokens (commandline -opc)
    set -l repo
    set -l n (count $tokens)
    for i in (seq $n)
        if test "$tokens[$i]" = -C; and test $i -lt $n
            set repo -C $tokens[(math $i + 1)]
        end
    end
    guardrail $repo __complete-refs $argv 2>/dev/null
end
complete -c guardrail -n "__fish_guardrail_using_subcommand check snapshot gate deploy" -f -a "(__fish_guardrail_refs branches)"
complete -c guardrail -n "__fish_guardrail_using_subcommand rollback" -f -a "(__fish_guardrail_refs tags)"
"#;

/// The manual page, in roff, on stdout; or, with `dir`, one page per
/// command written there.
pub fn man(cmd: clap::Command, dir: Option<&Path>) -> anyhow::Result<()> {
    match dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
        }
        Some(dir) => clap_mangen::generate_to(cmd, dir).map_err(|e| {
            anyhow::anyhow!(
                "the manual pages could not be written to {}: {e}",
                dir.display()
            )
        })?,
    }
    Ok(())
}
