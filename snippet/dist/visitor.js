()=>{let e=_+":v";u={toJSON:h(()=>localStorage[e]=localStorage[e]||p())}}
