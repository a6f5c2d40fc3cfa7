()=>{let e=()=>l.href,t=e(),r=u(()=>t!=(t=e())&&(f(S,1),E=m,J()));for(let e of["pushState","replaceState"]){let t=history[e];history[e]=(...e)=>{t.apply(history,e),r()}}p("popstate",r)}
