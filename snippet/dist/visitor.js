()=>{let o=S+":v";p={toJSON:d(()=>localStorage[o]=localStorage[o]||v())}}
