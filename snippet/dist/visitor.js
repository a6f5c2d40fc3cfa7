()=>{let e=w+":v";p={toJSON:h(()=>localStorage[e]=localStorage[e]||d())}}
