()=>{let e=w+":v";h={toJSON:u(()=>localStorage[e]=localStorage[e]||f())}}
