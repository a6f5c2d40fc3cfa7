()=>{let e=n+":v";h={toJSON:u(()=>localStorage[e]||=g())}}
