()=>{let e=T,_=[];T=u=>_?_.length<100&&_.push(u):e(u),I.consent=u=>{u&&(_||[]).map(e),_=!u&&[]}}
