" Vim syntax file
" Language: lmp (typed LM programs, *.lmp)
" Groups mirror the VS Code TextMate scopes (editors/vscode/syntaxes/lmp.tmLanguage.json).

if exists('b:current_syntax')
  finish
endif

let s:cpo_save = &cpo
set cpo&vim

syn case match

" Comments and strings
syn keyword lmpTodo TODO FIXME XXX NOTE contained
syn match   lmpComment "#.*$" contains=lmpTodo,@Spell
syn match   lmpEscape "\\." contained
syn region  lmpDocstring start=+"""+ end=+"""+ contains=lmpEscape,@Spell
syn region  lmpString start=+"\(""\)\@!+ skip=+\\.+ end=+"+ end=+$+ contains=lmpEscape,@Spell
" DSPy's inline signature form: "a: list[str], b -> c"
syn region  lmpSignatureString matchgroup=lmpString start=+"\ze[^"]*->[^"]*"+ skip=+\\.+ end=+"+ contains=lmpArrow,lmpBuiltinType,lmpTypeName,lmpInlineField
syn match   lmpInlineField "\<\l\w*\>" contained
syn match   lmpArrow "->" contained

" Numbers and constants
syn match   lmpNumber "\<\d\+\>"
syn match   lmpFloat  "\<\d\+\(\.\d\+\([eE][+-]\=\d\+\)\=\|[eE][+-]\=\d\+\)\>"
syn keyword lmpBoolean true false True False
syn keyword lmpConstant none None null

" Keywords
syn keyword lmpConditional if elif else
syn keyword lmpRepeat for
syn keyword lmpStatement return
syn keyword lmpOperatorWord and or not
" `in` is a match (not a keyword) so the `in`/`out` field markers below can win over it
syn match   lmpOperatorWord "\<in\>"
" `contains` is an option name of :syn keyword, so it is a match too
syn match   lmpOperatorWord "\<contains\>"
" Test blocks: `expect EXPR` (hard) and `check EXPR` (soft) at the start of a line
syn match   lmpAssert "^\s*\zs\<\(expect\|check\)\>"
syn keyword lmpInclude import using as
syn keyword lmpDeclaration let

" Declarations: `type Name`, `signature Name`, `module Name`, ...
syn match   lmpDeclaration "^\s*\zs\<\(type\|signature\|module\|tool\|retriever\|model\|metric\|example\|test\)\>\ze\s\+\h" nextgroup=lmpDeclName skipwhite
syn match   lmpDeclName "\h\w*" contained

" Signature / record fields: `in  name: type`, `out name: type`, `name: type` at the start of a line
syn match   lmpFieldMarker "^\s*\zs\<\(in\|out\)\>\ze\s\+\h\w*\s*:" nextgroup=lmpFieldName skipwhite
syn match   lmpFieldName "\h\w*\ze\s*:" contained
syn match   lmpFieldName "^\s*\zs\h\w*\ze\s*:[^:]"

" Types
syn keyword lmpBuiltinType str int float bool list dict
syn match   lmpTypeName "\<\u\w*\>"
syn keyword lmpPredictor Predict ChainOfThought ReAct Refine BestOfN ProgramOfThought MultiChainComparison
syn match   lmpBuiltinFunc "\<\(range\|len\|majority\|join\|concat\|keys\|unique\|bm25\|mcp\|min\|max\|sum\|abs\|round\|print\|image\|parallel\)\ze\s*("

" Operators
syn match   lmpOperator "->\|==\|!=\|<=\|>=\|+=\|-=\|[=<>+*/%|?]"

" Literal-union members (after lmpOperator so they win at `=` and `|`): strings in a `type X = "a" | "b"` declaration (and continuation lines)
syn match   lmpEnumMember +"[^"]*"+ contained contains=lmpEscape
syn region  lmpUnion matchgroup=lmpOperator start=+\(^\s*type\s\+\h\w*\s*\)\@<==\ze\s*"+ end=+$+ contains=lmpEnumMember,lmpUnionBar,lmpComment oneline
syn match   lmpUnion +^\s*|\s*".*$+ contains=lmpEnumMember,lmpUnionBar,lmpComment
syn match   lmpUnionBar "|" contained


hi def link lmpTodo          Todo
hi def link lmpComment       Comment
hi def link lmpEscape        SpecialChar
hi def link lmpDocstring     SpecialComment
hi def link lmpString        String
hi def link lmpSignatureString String
hi def link lmpInlineField   Identifier
hi def link lmpArrow         Operator
hi def link lmpNumber        Number
hi def link lmpFloat         Float
hi def link lmpBoolean       Boolean
hi def link lmpConstant      Constant
hi def link lmpConditional   Conditional
hi def link lmpRepeat        Repeat
hi def link lmpStatement     Statement
hi def link lmpOperatorWord  Keyword
hi def link lmpInclude       Include
hi def link lmpAssert        Exception
hi def link lmpDeclaration   Keyword
hi def link lmpDeclName      Structure
hi def link lmpFieldMarker   StorageClass
hi def link lmpFieldName     Identifier
hi def link lmpEnumMember    Constant
hi def link lmpUnionBar      Operator
hi def link lmpBuiltinType   Type
hi def link lmpTypeName      Type
hi def link lmpPredictor     Function
hi def link lmpBuiltinFunc   Function
hi def link lmpOperator      Operator

let b:current_syntax = 'lmp'
let &cpo = s:cpo_save
unlet s:cpo_save
