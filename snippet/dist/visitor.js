()=>{let e=w+":v";u={toJSON:h(()=>localStorage[e]=localStorage[e]||p())}}
