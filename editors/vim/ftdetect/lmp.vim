" lmp: typed LM programs
autocmd BufRead,BufNewFile *.lmp setfiletype lmp
